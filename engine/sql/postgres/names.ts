// Statement kind and PostgreSQL command-tag names for raw parse-tree statement nodes, the default
// output-column names PostgreSQL gives unnamed expressions (FigureColname in parse_target.c), and names
// read off parse-tree nodes.
import type { StatementKind } from '../types.ts';

// Raw parse-tree nodes are plain JSON from libpg-query; typing them loosely keeps the walker in
// one pass without a cast at every step.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** The tag of a wrapped node (`{ SelectStmt: {...} }` → 'SelectStmt'), or '' for an empty object. */
export function tagOf(node: Json): string {
  for (const k in node) return k;
  return '';
}

/** The statements of a parsed SQL-standard function body: BEGIN ATOMIC's (nested) Lists flattened, or its RETURN. */
export function flattenBody(n: Json): Json[] {
  const tag = tagOf(n);
  if (tag === 'List') {
    const out: Json[] = [];
    for (const x of (n.List.items ?? []) as Json[]) out.push(...flattenBody(x));
    return out;
  }
  return tag ? [n] : [];
}

/** 'OBJECT_MATVIEW' → 'MATERIALIZED VIEW', as it appears in command tags. */
export function objectTypeName(t: string | undefined): string {
  if (!t) return 'OBJECT';
  const s = t.startsWith('OBJECT_') ? t.slice(7) : t;
  switch (s) {
    case 'MATVIEW': return 'MATERIALIZED VIEW';
    case 'FDW': return 'FOREIGN DATA WRAPPER';
    case 'FOREIGN_SERVER': return 'SERVER';
    case 'TABCONSTRAINT': return 'CONSTRAINT';
    case 'OPCLASS': return 'OPERATOR CLASS';
    case 'OPFAMILY': return 'OPERATOR FAMILY';
    case 'TSCONFIGURATION': return 'TEXT SEARCH CONFIGURATION';
    case 'TSDICTIONARY': return 'TEXT SEARCH DICTIONARY';
    case 'TSPARSER': return 'TEXT SEARCH PARSER';
    case 'TSTEMPLATE': return 'TEXT SEARCH TEMPLATE';
    case 'AMOP': return 'OPERATOR';
    case 'AMPROC': return 'FUNCTION';
    case 'LARGEOBJECT': return 'LARGE OBJECT';
    case 'PUBLICATION_NAMESPACE':
    case 'PUBLICATION_REL': return 'PUBLICATION';
    case 'STATISTIC_EXT': return 'STATISTICS';
    case 'USER_MAPPING': return 'USER MAPPING';
    case 'DEFACL': return 'DEFAULT PRIVILEGES';
    case 'DEFAULT': return 'DEFAULT';
    default: return s.replace(/_/g, ' ');
  }
}

// Tags whose name does not split into the command tag.
const FIXED: Record<string, [StatementKind, string]> = {
  CreatedbStmt: ['ddl', 'CREATE DATABASE'],
  DropdbStmt: ['ddl', 'DROP DATABASE'],
  AlterDatabaseRefreshCollStmt: ['ddl', 'ALTER DATABASE'],
  AlterDatabaseSetStmt: ['ddl', 'ALTER DATABASE'],
  CreateSeqStmt: ['ddl', 'CREATE SEQUENCE'],
  AlterSeqStmt: ['ddl', 'ALTER SEQUENCE'],
  CreatePLangStmt: ['ddl', 'CREATE LANGUAGE'],
  CreateTrigStmt: ['ddl', 'CREATE TRIGGER'],
  CreateEventTrigStmt: ['ddl', 'CREATE EVENT TRIGGER'],
  AlterEventTrigStmt: ['ddl', 'ALTER EVENT TRIGGER'],
  CreateFdwStmt: ['ddl', 'CREATE FOREIGN DATA WRAPPER'],
  AlterFdwStmt: ['ddl', 'ALTER FOREIGN DATA WRAPPER'],
  CreateForeignServerStmt: ['ddl', 'CREATE SERVER'],
  AlterForeignServerStmt: ['ddl', 'ALTER SERVER'],
  CreateAmStmt: ['ddl', 'CREATE ACCESS METHOD'],
  CreateStatsStmt: ['ddl', 'CREATE STATISTICS'],
  AlterStatsStmt: ['ddl', 'ALTER STATISTICS'],
  CreateOpClassStmt: ['ddl', 'CREATE OPERATOR CLASS'],
  CreateOpFamilyStmt: ['ddl', 'CREATE OPERATOR FAMILY'],
  AlterOpFamilyStmt: ['ddl', 'ALTER OPERATOR FAMILY'],
  AlterOperatorStmt: ['ddl', 'ALTER OPERATOR'],
  AlterTypeStmt: ['ddl', 'ALTER TYPE'],
  CreateTableSpaceStmt: ['ddl', 'CREATE TABLESPACE'],
  DropTableSpaceStmt: ['ddl', 'DROP TABLESPACE'],
  AlterTableSpaceOptionsStmt: ['ddl', 'ALTER TABLESPACE'],
  AlterTableMoveAllStmt: ['ddl', 'ALTER TABLE'],
  ViewStmt: ['ddl', 'CREATE VIEW'],
  IndexStmt: ['ddl', 'CREATE INDEX'],
  RuleStmt: ['ddl', 'CREATE RULE'],
  CompositeTypeStmt: ['ddl', 'CREATE TYPE'],
  CreateEnumStmt: ['ddl', 'CREATE TYPE'],
  CreateRangeStmt: ['ddl', 'CREATE TYPE'],
  AlterEnumStmt: ['ddl', 'ALTER TYPE'],
  AlterTSDictionaryStmt: ['ddl', 'ALTER TEXT SEARCH DICTIONARY'],
  AlterTSConfigurationStmt: ['ddl', 'ALTER TEXT SEARCH CONFIGURATION'],
  CreateStmt: ['ddl', 'CREATE TABLE'],
  CreateForeignTableStmt: ['ddl', 'CREATE FOREIGN TABLE'],
  CommentStmt: ['ddl', 'COMMENT'],
  SecLabelStmt: ['ddl', 'SECURITY LABEL'],
  TruncateStmt: ['ddl', 'TRUNCATE'],
  RefreshMatViewStmt: ['ddl', 'REFRESH MATERIALIZED VIEW'],
  ImportForeignSchemaStmt: ['ddl', 'IMPORT FOREIGN SCHEMA'],
  DropOwnedStmt: ['ddl', 'DROP OWNED'],
  ReassignOwnedStmt: ['ddl', 'REASSIGN OWNED'],
  CreateRoleStmt: ['dcl', 'CREATE ROLE'],
  AlterRoleStmt: ['dcl', 'ALTER ROLE'],
  AlterRoleSetStmt: ['dcl', 'ALTER ROLE'],
  DropRoleStmt: ['dcl', 'DROP ROLE'],
  AlterDefaultPrivilegesStmt: ['dcl', 'ALTER DEFAULT PRIVILEGES'],
  AlterSystemStmt: ['utility', 'ALTER SYSTEM'],
  VariableShowStmt: ['utility', 'SHOW'],
  ClosePortalStmt: ['utility', 'CLOSE CURSOR'],
  CheckPointStmt: ['utility', 'CHECKPOINT'],
  LoadStmt: ['utility', 'LOAD'],
  ListenStmt: ['utility', 'LISTEN'],
  UnlistenStmt: ['utility', 'UNLISTEN'],
  NotifyStmt: ['utility', 'NOTIFY'],
  LockStmt: ['utility', 'LOCK TABLE'],
  ClusterStmt: ['utility', 'CLUSTER'],
  ReindexStmt: ['utility', 'REINDEX'],
  ConstraintsSetStmt: ['utility', 'SET CONSTRAINTS'],
  CallStmt: ['utility', 'CALL'],
  DoStmt: ['utility', 'DO'],
  ExplainStmt: ['utility', 'EXPLAIN'],
  PrepareStmt: ['utility', 'PREPARE'],
  ExecuteStmt: ['utility', 'EXECUTE'],
  DeclareCursorStmt: ['utility', 'DECLARE CURSOR'],
  ReturnStmt: ['select', 'RETURN'],
  PLAssignStmt: ['select', 'SELECT'],
  InsertStmt: ['insert', 'INSERT'],
  UpdateStmt: ['update', 'UPDATE'],
  DeleteStmt: ['delete', 'DELETE'],
  MergeStmt: ['merge', 'MERGE'],
  CopyStmt: ['copy', 'COPY'],
};

const TXN: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

/** Kind and command tag of one raw statement node (the body of the wrapper tagged `tag`). */
export function classify(tag: string, b: Json): [StatementKind, string] {
  switch (tag) {
    case 'SelectStmt':
      return b.intoClause ? ['ddl', 'SELECT INTO'] : ['select', 'SELECT'];
    case 'TransactionStmt':
      return ['tcl', TXN[b.kind as string] ?? 'TRANSACTION'];
    case 'VariableSetStmt': {
      const verb = b.kind === 'VAR_RESET' || b.kind === 'VAR_RESET_ALL' ? 'RESET' : 'SET';
      // PostgreSQL tags these plain SET/RESET; naming them lets policies match identity changes directly.
      if (b.name === 'role') return ['utility', `${verb} ROLE`];
      if (b.name === 'session_authorization') return ['utility', `${verb} SESSION AUTHORIZATION`];
      return ['utility', verb];
    }
    case 'FetchStmt':
      return ['utility', b.ismove ? 'MOVE' : 'FETCH'];
    case 'DeallocateStmt':
      return ['utility', b.isall ? 'DEALLOCATE ALL' : 'DEALLOCATE'];
    case 'DiscardStmt':
      return ['utility', 'DISCARD ' + String(b.target ?? 'DISCARD_ALL').replace('DISCARD_', '')];
    case 'VacuumStmt':
      return ['utility', b.is_vacuumcmd ? 'VACUUM' : 'ANALYZE'];
    case 'GrantStmt':
    case 'GrantRoleStmt':
      return ['dcl', b.is_grant ? 'GRANT' : 'REVOKE'];
    case 'CreateFunctionStmt':
      return ['ddl', b.is_procedure ? 'CREATE PROCEDURE' : 'CREATE FUNCTION'];
    case 'AlterFunctionStmt':
      return ['ddl', 'ALTER ' + (b.objtype === 'OBJECT_PROCEDURE' ? 'PROCEDURE' : b.objtype === 'OBJECT_ROUTINE' ? 'ROUTINE' : 'FUNCTION')];
    case 'CreateTableAsStmt':
      if (b.is_select_into) return ['ddl', 'SELECT INTO'];
      return ['ddl', b.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS'];
    case 'AlterTableStmt':
      return ['ddl', 'ALTER ' + objectTypeName(b.objtype ?? 'OBJECT_TABLE')];
    case 'DropStmt':
      return ['ddl', 'DROP ' + objectTypeName(b.removeType)];
    case 'DefineStmt':
      return ['ddl', 'CREATE ' + objectTypeName(b.kind)];
    case 'RenameStmt': {
      const t = b.renameType as string | undefined;
      const onRel = t === 'OBJECT_COLUMN' || t === 'OBJECT_TABCONSTRAINT' || t === 'OBJECT_TRIGGER' || t === 'OBJECT_RULE' || t === 'OBJECT_POLICY';
      return ['ddl', 'ALTER ' + objectTypeName(onRel && t !== 'OBJECT_TRIGGER' && t !== 'OBJECT_RULE' && t !== 'OBJECT_POLICY' ? b.relationType : t)];
    }
    case 'AlterObjectSchemaStmt':
    case 'AlterObjectDependsStmt':
      return ['ddl', 'ALTER ' + objectTypeName(b.objectType)];
    case 'AlterOwnerStmt':
      return ['ddl', 'ALTER ' + objectTypeName(b.objectType)];
    case 'AlterExtensionContentsStmt':
      return ['ddl', 'ALTER EXTENSION'];
  }
  const fixed = FIXED[tag];
  if (fixed) return fixed;
  // CreateExtensionStmt → CREATE EXTENSION: the remaining tags spell their command in CamelCase.
  const words = tag.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
  const kind: StatementKind = /^(CREATE|ALTER|DROP)\b/.test(words) ? 'ddl' : 'utility';
  return [kind, words];
}

/** The column name PostgreSQL gives an output expression without an alias ('?column?' if none). */
export function figureName(node: Json): string {
  return figure(node) ?? '?column?';
}

function figure(node: Json): string | null {
  const tag = tagOf(node);
  const b = node[tag];
  switch (tag) {
    case 'ColumnRef': {
      const f = b.fields as Json[];
      for (let i = f.length - 1; i >= 0; i--) {
        const s = f[i].String;
        if (s) return s.sval as string;
      }
      return null;
    }
    case 'A_Indirection': {
      const ind = b.indirection as Json[];
      for (let i = ind.length - 1; i >= 0; i--) {
        const s = ind[i].String;
        if (s) return s.sval as string;
      }
      return figure(b.arg);
    }
    case 'FuncCall': {
      const n = b.funcname as Json[];
      return (n[n.length - 1]?.String?.sval as string | undefined) ?? null;
    }
    case 'A_Expr':
      return b.kind === 'AEXPR_NULLIF' ? 'nullif' : null;
    case 'TypeCast': {
      const inner = figure(b.arg);
      if (inner !== null) return inner;
      const names = b.typeName?.names as Json[] | undefined;
      const last = names?.[names.length - 1]?.String?.sval as string | undefined;
      return last ?? null;
    }
    case 'CollateClause':
      return figure(b.arg);
    case 'GroupingFunc': return 'grouping';
    case 'MergeSupportFunc': return 'merge_action';
    case 'SubLink':
      switch (b.subLinkType) {
        case 'EXISTS_SUBLINK': return 'exists';
        case 'ARRAY_SUBLINK': return 'array';
        case 'EXPR_SUBLINK': {
          const first = b.subselect?.SelectStmt?.targetList?.[0]?.ResTarget;
          if (!first) return null;
          return (first.name as string | undefined) ?? figure(first.val);
        }
        default: return null;
      }
    case 'CaseExpr': {
      const d = b.defresult ? figure(b.defresult) : null;
      return d ?? 'case';
    }
    case 'A_ArrayExpr': return 'array';
    case 'RowExpr': return 'row';
    case 'CoalesceExpr': return 'coalesce';
    case 'MinMaxExpr': return b.op === 'IS_LEAST' ? 'least' : 'greatest';
    case 'SQLValueFunction':
      return String(b.op ?? '').replace('SVFOP_', '').toLowerCase().replace(/_n$/, '') || null;
    case 'XmlExpr':
      switch (b.op) {
        case 'IS_XMLCONCAT': return 'xmlconcat';
        case 'IS_XMLELEMENT': return 'xmlelement';
        case 'IS_XMLFOREST': return 'xmlforest';
        case 'IS_XMLPARSE': return 'xmlparse';
        case 'IS_XMLPI': return 'xmlpi';
        case 'IS_XMLROOT': return 'xmlroot';
        case 'IS_XMLSERIALIZE': return 'xmlserialize';
        default: return null;
      }
    case 'XmlSerialize': return 'xmlserialize';
    case 'JsonObjectConstructor': return 'json_object';
    case 'JsonArrayConstructor':
    case 'JsonArrayQueryConstructor': return 'json_array';
    case 'JsonObjectAgg': return 'json_objectagg';
    case 'JsonArrayAgg': return 'json_arrayagg';
    case 'JsonFuncExpr':
      return String(b.op ?? '').replace('JSON_', 'json_').toLowerCase().replace('_op', '') || null;
    default:
      return null;
  }
}

/** A wrapped node (`{ SelectStmt: {...} }`): its one key is a capitalized node tag. */
export function isNode(x: Json): boolean {
  for (const k in x) {
    const c = k.charCodeAt(0);
    return c >= 65 && c <= 90;
  }
  return false;
}

/** The strings of a list of String nodes (qualified names, column lists). */
export function strList(list: Json[] | undefined): string[] {
  const out: string[] = [];
  if (!list) return out;
  for (const x of list) {
    const s = x?.String?.sval;
    if (typeof s === 'string') out.push(s);
  }
  return out;
}

/** Lower-case function name; 'schema.name' only when the SQL text qualified it. */
export function funcName(b: Json): string {
  const names = strList(b.funcname as Json[]);
  // EXTRACT(...), TRIM(...), x AT TIME ZONE ... arrive as pg_catalog.* though nobody wrote that.
  if (b.funcformat === 'COERCE_SQL_SYNTAX' && names.length === 2 && names[0] === 'pg_catalog') return names[1] as string;
  return names.join('.');
}

