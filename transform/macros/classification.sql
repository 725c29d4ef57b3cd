{#-
  One vocabulary for every provider's replies (analytics.replies.classification):
  interested, not_interested, out_of_office, bounce, unsubscribe, unknown.
  Each provider's rule lives here, once; the README states the same rules.
-#}

{% macro classifications() %}
  {{ return(['interested', 'not_interested', 'out_of_office', 'bounce', 'unsubscribe', 'unknown']) }}
{% endmacro %}


{#- A label as Leadterra documents them; else NULL. -#}
{% macro label_classification(label) -%}
  case
    when lower({{ tap_replies.trim_whitespace(label) }})
         in ('interested', 'not_interested', 'out_of_office', 'bounce', 'unsubscribe')
    then lower({{ tap_replies.trim_whitespace(label) }})
  end
{%- endmacro %}


{#- Leadterra: its label when it is one of the five documented ones, `unknown` otherwise. -#}
{% macro leadterra_classification(label) -%}
  coalesce({{ tap_replies.label_classification(label) }}, 'unknown')
{%- endmacro %}


{#-
  Tuco: a message that is, trimmed and in any case, one of the carriers' standard opt-out words
  (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) is `unsubscribe`; anything else `unknown`.
  Tuco documents no label, so none is read (tests/test_model_columns.py keeps it so).
-#}
{% macro tuco_classification(message) -%}
  case
    when upper({{ tap_replies.trim_whitespace(message) }})
         in ('STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT')
    then 'unsubscribe'
    else 'unknown'
  end
{%- endmacro %}


{#-
  Smartlead: the category by name (Smartlead's stock ones and the names customers commonly add),
  else by the category's sentiment (positive → interested, negative → not_interested).
-#}
{% macro smartlead_classification(category_name, sentiment) -%}
  case
    when lower({{ tap_replies.trim_whitespace(category_name) }})
         in ('interested', 'meeting request', 'meeting booked', 'information request')
    then 'interested'
    when lower({{ tap_replies.trim_whitespace(category_name) }}) in ('not interested', 'wrong person')
    then 'not_interested'
    when lower({{ tap_replies.trim_whitespace(category_name) }})
         in ('do not contact', 'unsubscribe', 'unsubscribed')
    then 'unsubscribe'
    when lower({{ tap_replies.trim_whitespace(category_name) }}) in ('out of office', 'ooo')
    then 'out_of_office'
    when lower({{ tap_replies.trim_whitespace(category_name) }})
         in ('bounce', 'bounced', 'sender originated bounce')
    then 'bounce'
    when lower({{ sentiment }}) = 'positive' then 'interested'
    when lower({{ sentiment }}) = 'negative' then 'not_interested'
    else 'unknown'
  end
{%- endmacro %}
