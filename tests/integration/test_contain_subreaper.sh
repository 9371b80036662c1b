#!/usr/bin/env bash
# test_contain.sh without cgroups (worker.cgroup = "off"): the worker is a
# subreaper and each task a tagged session.
CONTAIN_MODE=subreaper exec bash "$(dirname "$0")/test_contain.sh"
