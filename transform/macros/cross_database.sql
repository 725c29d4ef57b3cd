{#-
  What the three warehouses spell differently, written once each. Models call only these and dbt's
  own cross-database macros (dbt.*); every macro here dispatches to a duckdb__, postgres__ and
  snowflake__ implementation (default__ where two agree).

  The loaders keep a nested object as JSON (target-duckdb), JSONB (target-postgres) or VARIANT
  (target-snowflake), and a date-time as a timestamp without time zone holding UTC.
-#}


{#- The SQL type of a nested object as the loader keeps it. -#}
{% macro type_json() %}{{ return(adapter.dispatch('type_json', 'tap_replies')()) }}{% endmacro %}
{% macro duckdb__type_json() %}json{% endmacro %}
{% macro postgres__type_json() %}jsonb{% endmacro %}
{% macro snowflake__type_json() %}variant{% endmacro %}


{#- A loaded object column as that type (a warehouse may have stored it as text). -#}
{% macro as_json(expression) %}{{ return(adapter.dispatch('as_json', 'tap_replies')(expression)) }}{% endmacro %}
{% macro default__as_json(expression) %}cast({{ expression }} as {{ tap_replies.type_json() }}){% endmacro %}
{% macro snowflake__as_json(expression) %}to_variant({{ expression }}){% endmacro %}


{#- One top-level field of a JSON object, as text (NULL when absent or null). -#}
{% macro json_text(expression, field) %}
  {{- return(adapter.dispatch('json_text', 'tap_replies')(expression, field)) -}}
{% endmacro %}
{% macro duckdb__json_text(expression, field) -%}
  json_extract_string({{ expression }}, '$.{{ field }}')
{%- endmacro %}
{% macro postgres__json_text(expression, field) -%}
  ({{ expression }} ->> '{{ field }}')
{%- endmacro %}
{% macro snowflake__json_text(expression, field) -%}
  {{ expression }}:"{{ field }}"::varchar
{%- endmacro %}


{#-
  A column as a timestamp without time zone, in UTC, whatever the loader made of it: a naive
  timestamp (taken as UTC, as every loader here writes it), a zoned one (converted), or ISO 8601
  text (parsed, offset honoured). `data_type` is the column's type as the warehouse reports it.
-#}
{% macro utc_timestamp(expression, data_type='text') %}
  {%- set type = (data_type or 'text') | lower -%}
  {%- set zoned = ('with time zone' in type and 'without' not in type)
        or type in ('timestamptz', 'timestamp_tz', 'timestamp_ltz')
        or type.startswith('timestamp_tz') or type.startswith('timestamp_ltz') -%}
  {%- if zoned -%}
    {{ tap_replies.zoned_to_utc(expression) }}
  {%- elif type.startswith('timestamp') or type.startswith('datetime') -%}
    cast({{ expression }} as {{ dbt.type_timestamp() }})
  {%- else -%}
    {{ tap_replies.parse_utc_timestamp(expression) }}
  {%- endif -%}
{% endmacro %}

{% macro zoned_to_utc(expression) %}{{ return(adapter.dispatch('zoned_to_utc', 'tap_replies')(expression)) }}{% endmacro %}
{% macro default__zoned_to_utc(expression) -%}
  cast(({{ expression }}) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro duckdb__zoned_to_utc(expression) -%}
  cast(timezone('UTC', {{ expression }}) as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro snowflake__zoned_to_utc(expression) -%}
  convert_timezone('UTC', {{ expression }})::timestamp_ntz
{%- endmacro %}

{#- ISO 8601 text ('2026-05-31T22:40:33Z', '…+02:00') → UTC timestamp; NULL stays NULL. -#}
{% macro parse_utc_timestamp(expression) %}
  {{- return(adapter.dispatch('parse_utc_timestamp', 'tap_replies')(expression)) -}}
{% endmacro %}
{% macro duckdb__parse_utc_timestamp(expression) -%}
  cast(timezone('UTC', cast({{ expression }} as timestamptz)) as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro postgres__parse_utc_timestamp(expression) -%}
  cast(cast({{ expression }} as timestamptz) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro snowflake__parse_utc_timestamp(expression) -%}
  convert_timezone('UTC', cast({{ expression }} as timestamp_tz))::timestamp_ntz
{%- endmacro %}


{#- Now, as a UTC timestamp without time zone (comparable with the loaded date-times). -#}
{% macro utc_now() %}{{ return(adapter.dispatch('utc_now', 'tap_replies')()) }}{% endmacro %}
{% macro default__utc_now() -%}
  cast(current_timestamp at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro duckdb__utc_now() -%}
  cast(timezone('UTC', current_timestamp) as {{ dbt.type_timestamp() }})
{%- endmacro %}
{% macro snowflake__utc_now() -%}
  convert_timezone('UTC', current_timestamp())::timestamp_ntz
{%- endmacro %}


{#- Text without surrounding spaces, tabs or line breaks. -#}
{% macro trim_whitespace(expression) %}
  {{- return(adapter.dispatch('trim_whitespace', 'tap_replies')(expression)) -}}
{% endmacro %}
{% macro default__trim_whitespace(expression) -%}
  trim({{ expression }}, chr(32) || chr(9) || chr(10) || chr(13))
{%- endmacro %}
{% macro postgres__trim_whitespace(expression) -%}
  btrim({{ expression }}, chr(32) || chr(9) || chr(10) || chr(13))
{%- endmacro %}


{#- The first `length` characters of a text. -#}
{% macro left_chars(expression, length) %}
  {{- return(adapter.dispatch('left_chars', 'tap_replies')(expression, length)) -}}
{% endmacro %}
{% macro default__left_chars(expression, length) -%}
  substring({{ expression }}, 1, {{ length }})
{%- endmacro %}


{#-
  numerator / denominator (non-negative integers) rounded half up to 4 places, as decimal(10, 4);
  NULL when the denominator is 0. Done in integers, so every warehouse rounds a tie the same way
  (DuckDB divides decimals in floating point; Postgres and Snowflake in decimal).
-#}
{% macro ratio(numerator, denominator) %}
  {{- return(adapter.dispatch('ratio', 'tap_replies')(numerator, denominator)) -}}
{% endmacro %}
{% macro default__ratio(numerator, denominator) -%}
  cast(
    cast(floor(cast(20000 * ({{ numerator }}) + ({{ denominator }}) as double precision)
               / nullif(2 * ({{ denominator }}), 0)) as decimal(18, 0))
    * 0.0001 as decimal(10, 4))
{%- endmacro %}
