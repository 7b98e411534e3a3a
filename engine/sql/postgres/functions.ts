// What the lineage analysis knows about PostgreSQL's built-in functions without a catalog: which
// ones are pure (output from arguments only), which set-returning ones have a known shape, and which
// run SQL given as text (so their lineage cannot be known before they run).

/**
 * Built-ins whose result derives only from their arguments (and from server state that is not table
 * data: the clock, settings, randomness). A call to anything else that is not in the catalog may
 * read tables behind the analysis' back and is reported as unresolved.
 */
export const PURE_FUNCTIONS: ReadonlySet<string> = new Set(
  [
    // strings
    'upper lower initcap substr substring left right length char_length character_length octet_length bit_length',
    'position strpos replace translate trim btrim ltrim rtrim lpad rpad concat concat_ws format repeat reverse',
    'split_part string_to_array array_to_string regexp_replace regexp_match regexp_matches regexp_split_to_array',
    'regexp_split_to_table regexp_substr regexp_count regexp_instr regexp_like starts_with ascii chr md5 sha224',
    'sha256 sha384 sha512 encode decode quote_ident quote_literal quote_nullable to_hex convert convert_from',
    'convert_to overlay normalize is_normalized unistr casefold string_to_table to_ascii textlen text_larger',
    'text_smaller similar_to_escape like_escape crc32 crc32c',
    // numbers
    'abs ceil ceiling floor round trunc mod power pow sqrt cbrt exp ln log log10 sign div pi degrees radians',
    'sin cos tan asin acos atan atan2 sind cosd tand asind acosd atand atan2d sinh cosh tanh asinh acosh atanh',
    'cot cotd width_bucket gcd lcm factorial scale min_scale trim_scale random random_normal erf erfc gamma lgamma',
    // dates and times
    'now clock_timestamp statement_timestamp transaction_timestamp timeofday date_trunc date_part extract age',
    'to_char to_date to_timestamp to_number make_date make_time make_timestamp make_timestamptz make_interval',
    'justify_days justify_hours justify_interval date_bin isfinite timezone overlaps date_add date_subtract',
    // json / jsonb
    'to_json to_jsonb row_to_json array_to_json json_build_object jsonb_build_object json_build_array',
    'jsonb_build_array json_object jsonb_object json_extract_path json_extract_path_text jsonb_extract_path',
    'jsonb_extract_path_text jsonb_set jsonb_set_lax jsonb_insert jsonb_pretty jsonb_strip_nulls json_strip_nulls',
    'json_typeof jsonb_typeof json_array_length jsonb_array_length jsonb_path_query jsonb_path_query_array',
    'jsonb_path_query_first jsonb_path_exists jsonb_path_match json_each json_each_text jsonb_each',
    'jsonb_each_text json_array_elements json_array_elements_text jsonb_array_elements jsonb_array_elements_text',
    'json_object_keys jsonb_object_keys json_populate_record json_populate_recordset jsonb_populate_record',
    'jsonb_populate_recordset json_to_record json_to_recordset jsonb_to_record jsonb_to_recordset jsonb_concat',
    'json_scalar json_serialize',
    // arrays
    'array_append array_prepend array_cat array_length array_lower array_upper array_ndims array_dims',
    'array_position array_positions array_remove array_replace array_fill cardinality unnest generate_subscripts',
    'trim_array array_sample array_shuffle array_reverse array_sort',
    // aggregates and window functions
    'count sum avg min max string_agg array_agg json_agg jsonb_agg json_object_agg jsonb_object_agg',
    'json_agg_strict jsonb_agg_strict json_object_agg_strict jsonb_object_agg_strict json_object_agg_unique',
    'jsonb_object_agg_unique bool_and bool_or every bit_and bit_or bit_xor stddev stddev_pop stddev_samp',
    'variance var_pop var_samp percentile_cont percentile_disc mode rank dense_rank row_number ntile lag lead',
    'first_value last_value nth_value cume_dist percent_rank corr covar_pop covar_samp regr_avgx regr_avgy',
    'regr_count regr_intercept regr_r2 regr_slope regr_sxx regr_sxy regr_syy xmlagg any_value range_agg',
    'range_intersect_agg grouping',
    // sets, misc
    'generate_series coalesce nullif greatest least num_nulls num_nonnulls gen_random_uuid uuidv4 uuidv7',
    'uuid_generate_v4 uuid_extract_timestamp uuid_extract_version current_setting version pg_backend_pid',
    'txid_current pg_current_xact_id pg_typeof format_type current_database current_schema current_user',
    'session_user inet_client_addr inet_client_port inet_server_addr inet_server_port pg_postmaster_start_time',
    'hashtext hashtextextended digest hmac crypt gen_salt gen_random_bytes',
    // text search, xml, network, ranges
    'to_tsvector to_tsquery plainto_tsquery phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd',
    'ts_headline setweight strip tsvector_to_array array_to_tsvector numnode querytree',
    'xpath xpath_exists xml_is_well_formed xml_is_well_formed_document xml_is_well_formed_content xmlcomment',
    'xmltext host hostmask masklen abbrev broadcast netmask network family set_masklen inet_same_family',
    'inet_merge lower_inc upper_inc lower_inf upper_inf isempty range_merge multirange',
    // hstore (whole-row values: hstore(p) carries every column, which the argument walk records)
    'hstore akeys avals skeys svals each hstore_to_json hstore_to_jsonb hstore_to_array',
    // function-style casts
    'text varchar char bpchar name int int2 int4 int8 integer smallint bigint numeric float4 float8 real bool',
    'boolean date time timetz timestamp timestamptz interval uuid json jsonb bytea inet cidr macaddr oid money',
  ]
    .join(' ')
    .split(/\s+/)
    .filter(Boolean),
);

/**
 * Built-ins that run a query given as text, or read a cursor or whole tables by name: their output
 * can carry any column of any table, and which ones is known only when they run.
 */
export const DYNAMIC_FUNCTIONS: ReadonlySet<string> = new Set([
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'ts_stat',
  'dblink',
  'dblink_exec',
  'dblink_open',
  'dblink_fetch',
  'dblink_send_query',
  'dblink_get_result',
]);

/**
 * Output column names of set-returning built-ins in FROM, when not given by a column definition
 * list. null = one column named after the function (or the table alias), as PostgreSQL names it.
 */
export const SRF_COLUMNS: ReadonlyMap<string, string[] | null> = new Map<string, string[] | null>([
  ['generate_series', null],
  ['generate_subscripts', null],
  ['regexp_split_to_table', null],
  ['string_to_table', null],
  ['regexp_matches', null],
  ['json_array_elements', ['value']],
  ['json_array_elements_text', ['value']],
  ['jsonb_array_elements', ['value']],
  ['jsonb_array_elements_text', ['value']],
  ['json_object_keys', null],
  ['jsonb_object_keys', null],
  ['jsonb_path_query', null],
  ['json_each', ['key', 'value']],
  ['json_each_text', ['key', 'value']],
  ['jsonb_each', ['key', 'value']],
  ['jsonb_each_text', ['key', 'value']],
  ['each', ['key', 'value']],
]);

/** `pg_catalog.x` and `x` name the same built-in; any other qualification does not. */
export function builtinName(names: string[]): string | null {
  if (names.length === 1) return names[0] as string;
  if (names.length === 2 && names[0] === 'pg_catalog') return names[1] as string;
  return null;
}
