"""Use cases that the pages and the `risk` command call. They validate, raise domain errors (never st.error),
and write only through risk.store."""
