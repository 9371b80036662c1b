typedef int wf_placeholder_t;
