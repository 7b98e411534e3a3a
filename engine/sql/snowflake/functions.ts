// What the analysis knows about Snowflake's functions: built-ins whose value derives from their arguments
// only, those that read data named at run time, and the columns of the table functions it follows.
//
// Calls polyglot recognizes get a node of their own ({ upper: ... }): those are built-ins by construction.

/** AST node kinds that are operators or syntax, not calls: never listed in `functions`. */
export const OPERATORS: ReadonlySet<string> = new Set([
  'and', 'or', 'not', 'neg', 'add', 'sub', 'mul', 'div', 'mod', 'int_div', 'eq', 'neq', 'lt', 'lte', 'gt', 'gte',
  'like', 'i_like', 'concat', 'in', 'between', 'is_null', 'is_true', 'is_false', 'is', 'exists', 'case',
  'cast', 'try_cast', 'safe_cast', 'paren', 'tuple', 'array', 'struct', 'subscript', 'dot', 'j_s_o_n_extract',
  'bitwise_and', 'bitwise_or', 'bitwise_xor', 'bitwise_not', 'bitwise_left_shift', 'bitwise_right_shift',
  'null_safe_eq', 'null_safe_neq', 'similar_to', 'any', 'all', 'glob', 'match', 'named_argument', 'ordered',
  'lambda', 'interval', 'collation', 'array_slice', 'alias', 'annotated', 'filter', 'var', 'data_type',
  'prior', 'connect_by_root', 'member_of',
]);

/**
 * Snowflake built-ins (lower case) whose result derives from their arguments only: no table is read,
 * nothing leaves the account. Anything else called by name is an unknown (user-defined or external)
 * function, whose body could read any table.
 */
export const PURE_FUNCTIONS: ReadonlySet<string> = new Set(
  `
  abs acos acosh add_months any_value approx_count_distinct approx_percentile approx_top_k approximate_count_distinct
  array_agg array_append array_cat array_compact array_construct array_construct_compact array_contains array_distinct
  array_except array_flatten array_generate_range array_insert array_intersection array_max array_min array_position
  array_prepend array_remove array_remove_at array_size array_slice array_sort array_to_string array_union_agg
  array_unique_agg arrays_overlap arrays_to_object as_array as_binary as_boolean as_char as_date as_decimal as_double
  as_integer as_number as_object as_real as_time as_timestamp_ltz as_timestamp_ntz as_timestamp_tz as_varchar ascii asin
  asinh atan atan2 atanh avg base64_decode_binary base64_decode_string base64_encode bit_length bitand bitand_agg bitnot
  bitor bitor_agg bitshiftleft bitshiftright bitxor bitxor_agg booland booland_agg boolnot boolor boolor_agg boolxor
  boolxor_agg cbrt ceil ceiling char charindex check_json check_xml chr coalesce collate collation compress concat
  concat_ws conditional_change_event conditional_true_event contains convert_timezone corr cos cosh cot count count_if
  covar_pop covar_samp cume_dist current_account current_available_roles current_client current_database current_date
  current_region current_role current_schema current_schemas current_session current_time current_timestamp
  current_transaction current_user current_version current_warehouse date date_from_parts date_part date_trunc dateadd
  datediff day dayname dayofmonth dayofweek dayofweekiso dayofyear decode decompress_binary decompress_string degrees
  dense_rank div0 div0null editdistance endswith equal_null exp extract factorial first_value floor get get_ignore_case
  get_path getdate greatest grouping grouping_id hash hash_agg haversine hex_decode_binary hex_decode_string hex_encode
  hll hour iff ifnull ilike initcap insert is_array is_binary is_boolean is_char is_date is_date_value is_decimal
  is_double is_integer is_null_value is_object is_real is_role_in_session is_time is_timestamp_ltz is_timestamp_ntz
  is_timestamp_tz is_varchar jarowinkler_similarity last_query_id json_extract_path_text kurtosis lag last_day last_value lead least
  left len length like listagg ln localtime localtimestamp log lower lpad ltrim max max_by md5 md5_binary md5_hex
  md5_number_lower64 md5_number_upper64 median min min_by minute mod mode month monthname months_between next_day
  normal nth_value ntile nullif nullifzero nvl nvl2 object_agg object_construct object_construct_keep_null object_delete
  object_insert object_keys object_pick octet_length parse_ip parse_json parse_url parse_xml percent_rank percentile_cont
  percentile_disc pi position pow power previous_day quarter radians random randstr rank ratio_to_report regexp_count
  regexp_instr regexp_like regexp_replace regexp_substr regexp_substr_all regr_avgx regr_avgy regr_count regr_intercept
  regr_r2 regr_slope regr_sxx regr_sxy regr_syy regr_valx regr_valy repeat replace reverse right rlike round row_number
  rpad rtrim rtrimmed_length second seq1 seq2 seq4 seq8 sha1 sha1_binary sha1_hex sha2 sha2_binary sha2_hex sign sin
  sinh skew soundex soundex_p123 space split split_part sqrt square startswith stddev stddev_pop stddev_samp
  strip_null_value strtok strtok_to_array substr substring sum sysdate systimestamp tan tanh time time_from_parts
  time_slice timeadd timediff timestamp_from_parts timestamp_ltz_from_parts timestamp_ntz_from_parts
  timestamp_tz_from_parts timestampadd timestampdiff to_array to_binary to_boolean to_char to_date to_decimal to_double
  to_geography to_geometry to_json to_number to_numeric to_object to_time to_timestamp to_timestamp_ltz
  to_timestamp_ntz to_timestamp_tz to_varchar to_variant to_xml translate trim trunc truncate try_base64_decode_binary
  try_base64_decode_string try_cast try_hex_decode_binary try_hex_decode_string try_parse_json try_to_binary
  try_to_boolean try_to_date try_to_decimal try_to_double try_to_number try_to_numeric try_to_time try_to_timestamp
  try_to_timestamp_ltz try_to_timestamp_ntz try_to_timestamp_tz typeof unicode uniform upper uuid_string var_pop
  var_samp variance variance_pop variance_samp week weekiso weekofyear width_bucket xmlget year yearofweek
  yearofweekiso zeroifnull zipf
  `.trim().split(/\s+/),
);

/** Built-ins whose value is data the statement does not name: another query's result. */
export const DYNAMIC_FUNCTIONS: ReadonlyMap<string, string> = new Map([
  ['result_scan', "RESULT_SCAN() reads the result of another query, which no analysis of this one can see"],
]);

/**
 * Table functions whose output columns Snowflake documents; each column may carry any input (conservative).
 * The arguments decide how many rows come back, so they are predicates too.
 */
export const TABLE_FUNCTION_COLUMNS: ReadonlyMap<string, readonly string[]> = new Map([
  ['flatten', ['SEQ', 'KEY', 'PATH', 'INDEX', 'VALUE', 'THIS']],
  ['split_to_table', ['SEQ', 'INDEX', 'VALUE']],
  ['strtok_split_to_table', ['SEQ', 'INDEX', 'VALUE']],
  ['generator', []],
]);

/** A cast that keeps the value as it is: to a string type without a length (a length cuts; CHAR is CHAR(1)). */
export function isTextType(to: { data_type?: unknown; length?: unknown } | null | undefined): boolean {
  if (!to || to.length !== undefined && to.length !== null) return false;
  return to.data_type === 'text' || to.data_type === 'string' || to.data_type === 'var_char' || to.data_type === 'varchar';
}
