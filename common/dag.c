typedef int dag_placeholder_t;
