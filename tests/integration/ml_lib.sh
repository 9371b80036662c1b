# shellcheck shell=bash
# ml_lib.sh — helpers of the test_ml_*.sh integration tests (sourced after
# lib.sh): a deterministic data generator and queries over what the ML
# kinds left in the database.

for _b in drover-task; do
    [[ -x "$DROVER_BIN/$_b" ]] || { echo "$T_NAME: $DROVER_BIN/$_b is missing; build it" >&2; exit 1; }
done

# gen_data FILE ROWS SEED [COLS] [MISSING] [SHIFT]: a CSV with a header
# f0..f(COLS-1),damage and three classes (minor, moderate, severe) cycling by
# row; feature j of a class-c row is 4 when j == c (mod COLS) plus uniform
# noise in [-0.5, 0.5) plus SHIFT, so the classes are linearly separable
# with a wide margin. A share MISSING of the last column is left empty.
gen_data() {
    awk -v rows="$2" -v seed="$3" -v cols="${4:-4}" -v missing="${5:-0}" -v shift="${6:-0}" '
    BEGIN {
        srand(seed)
        split("minor,moderate,severe", names, ",")
        h = ""
        for (j = 0; j < cols; j++) h = h "f" j ","
        print h "damage"
        for (i = 0; i < rows; i++) {
            c = i % 3
            line = ""
            for (j = 0; j < cols; j++) {
                v = (j % 3 == c && j < 3 ? 4 : 0) + (rand() - 0.5) + shift
                if (j == cols - 1 && rand() < missing) s = ""; else s = sprintf("%.4f", v)
                line = line s ","
            }
            print line names[c + 1]
        }
    }' >"$1"
}

# task_id RUN STEP
task_id() { sql "select id from drover.tasks where run_id = $1 and name = '$2'"; }

# task_stream RUN STEP ATTEMPT STREAM: the bytes of one log stream as text.
task_stream() {
    sql "select coalesce(convert_from(string_agg(l.data, ''::bytea order by l.offset_bytes), 'UTF8'), '')
         from drover.task_logs l join drover.tasks t on t.id = l.task_id
         where t.run_id = $1 and t.name = '$2' and l.attempt = $3 and l.stream = $4"
}

# metric_count RUN STEP ATTEMPT
metric_count() {
    sql "select count(*) from drover.task_metrics m join drover.tasks t on t.id = m.task_id
         where t.run_id = $1 and t.name = '$2' and m.attempt = $3"
}

# metric_epoch min|max RUN STEP ATTEMPT: the first or last epoch an attempt
# reported (resume tests: a resumed attempt starts after its checkpoint).
metric_epoch() {
    sql "select $1((m.data->>'epoch')::int) from drover.task_metrics m
         join drover.tasks t on t.id = m.task_id
         where t.run_id = $2 and t.name = '$3' and m.attempt = $4"
}
