{#-
  What left a provider's list leaves the marts: a full-table stream's raw row is marked deleted
  (`_sdc_deleted_at`, the start of the complete read that no longer carried it) when the stream's
  newest *complete* read, as the tap logs it in `full_table_reads`, is newer than the row's own
  read (`_read_version`). See tap_replies/providers/full_table.py. A partial read (an error, a
  campaign_ids filter, a capped list, --test, a deselected stream) logs nothing, so it marks
  nothing; a row read again after it was marked is current again.

  Soft by default: the row stays, staging says `is_deleted`, the marts leave it out. With
  --vars '{tap_replies_hard_delete: true}' the row is deleted instead.

  Run as a pre-hook of each full-table stream's staging model, in every workspace's raw schema.
  Incremental streams (replies, leads) are never touched: a reply stays when its campaign goes.
-#}

{% macro mark_deleted(table) %}
  {%- if execute -%}
    {%- for workspace in tap_replies.workspaces() -%}
      {%- set database = workspace.get('database', target.database) -%}
      {%- set relation = adapter.get_relation(database=database, schema=workspace['schema'],
                                              identifier=table) -%}
      {%- set reads = adapter.get_relation(database=database, schema=workspace['schema'],
                                           identifier='full_table_reads') -%}
      {%- if relation is not none and reads is not none -%}
        {%- do tap_replies.mark_deleted_in(relation, reads, table) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  select 1 as marked
{% endmacro %}


{% macro mark_deleted_in(relation, reads, table) %}
  {%- set columns = adapter.get_columns_in_relation(relation) -%}
  {%- set read_version = tap_replies.find_column(columns, '_read_version') -%}
  {%- set reads_columns = adapter.get_columns_in_relation(reads) -%}
  {%- set reads_stream = tap_replies.find_column(reads_columns, 'stream') -%}
  {%- set reads_version = tap_replies.find_column(reads_columns, 'read_version') -%}
  {%- if read_version is none or reads_stream is none or reads_version is none -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set row_version = tap_replies.utc_timestamp(adapter.quote(read_version.name),
                                                  read_version.data_type) -%}
  {%- set newest_complete -%}
    (select max({{ tap_replies.utc_timestamp(adapter.quote(reads_version.name), reads_version.data_type) }})
     from {{ reads }}
     where {{ adapter.quote(reads_stream.name) }} = {{ dbt.string_literal(table) }})
  {%- endset -%}
  {#- A row loaded before the tap stamped its reads has no version: older than any. -#}
  {%- set left_the_list = '(' ~ newest_complete ~ ' is not null and (' ~ row_version ~ ' is null or '
                          ~ row_version ~ ' < ' ~ newest_complete ~ '))' -%}
  {%- if var('tap_replies_hard_delete', false) -%}
    {%- do run_query('delete from ' ~ relation ~ ' where ' ~ left_the_list) -%}
    {{ return(none) }}
  {%- endif -%}
  {%- set deleted = tap_replies.find_column(columns, '_sdc_deleted_at') -%}
  {%- if deleted is none -%}
    {%- do run_query('alter table ' ~ relation ~ ' add column ' ~ adapter.quote('_sdc_deleted_at')
                     ~ ' ' ~ dbt.type_string()) -%}
    {%- set deleted_name, deleted_type = '_sdc_deleted_at', dbt.type_string() -%}
  {%- else -%}
    {%- set deleted_name, deleted_type = deleted.name, deleted.data_type -%}
  {%- endif -%}
  {%- set deleted_column = adapter.quote(deleted_name) -%}
  {%- do run_query(
      'update ' ~ relation ~ ' set ' ~ deleted_column ~ ' = '
      ~ tap_replies.timestamp_as(newest_complete, deleted_type)
      ~ ' where ' ~ deleted_column ~ ' is null and ' ~ left_the_list) -%}
  {%- do run_query(
      'update ' ~ relation ~ ' set ' ~ deleted_column ~ ' = null'
      ~ ' where ' ~ deleted_column ~ ' is not null and ' ~ row_version ~ ' >= ' ~ newest_complete) -%}
{% endmacro %}


{#- A UTC timestamp as a column of `data_type` holds one: as is, or ISO-like text with +00. -#}
{% macro timestamp_as(expression, data_type) %}
  {%- set type = (data_type or 'text') | lower -%}
  {%- if type.startswith('timestamp') or type.startswith('datetime') -%}
    cast({{ expression }} as {{ data_type }})
  {%- else -%}
    {{ dbt.concat(['cast(' ~ expression ~ ' as ' ~ dbt.type_string() ~ ')', "'+00:00'"]) }}
  {%- endif -%}
{% endmacro %}
