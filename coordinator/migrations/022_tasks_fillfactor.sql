-- drover schema, version 22: room on each page of drover.tasks for the
-- updates a task goes through (assigned, running, succeeded...). With
-- full pages, almost every such update moved the row to another page and
-- added an entry to both of the table's indexes (about 1 in 3 updates was
-- HOT during W1); with 40 % of each page kept free by inserts, most stay
-- on their page with no index work (about 6 in 7 HOT). The cost is a
-- larger table on disk. Pages already written keep their fill until they
-- are rewritten.
ALTER TABLE drover.tasks SET (fillfactor = 60);
