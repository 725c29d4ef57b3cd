{#-
  A model's `schema` config is the schema's whole name (`analytics`, not dbt's default
  `<target schema>_analytics`), so the marts land in `analytics` on every warehouse.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {%- if custom_schema_name is none -%}
    {{ target.schema }}
  {%- else -%}
    {{ custom_schema_name | trim }}
  {%- endif -%}
{%- endmacro %}
