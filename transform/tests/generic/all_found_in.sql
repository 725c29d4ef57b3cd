{#-
  A relationship on several columns (dbt's `relationships` takes one): every row's `columns`
  values, NULLs aside, appear together in `to` (whose columns are named the same unless `to_columns`
  says otherwise). With workspaces, `workspace` is one of them: a key only counts in its workspace.
-#}
{% test all_found_in(model, columns, to, to_columns=none) %}
{%- set to_columns = to_columns or columns -%}
with children as (
    select distinct {{ columns | join(', ') }}
    from {{ model }}
    where {% for column in columns %}{{ column }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
),
parents as (
    select distinct
        {% for column in to_columns %}{{ column }} as parent_{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ to }}
)
select children.*
from children
left join parents
    on {% for column in columns %}children.{{ column }} = parents.parent_{{ loop.index }}{% if not loop.last %} and {% endif %}{% endfor %}
where parents.parent_1 is null
{% endtest %}
