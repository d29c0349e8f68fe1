-- statements: 4
BEGIN;
CREATE TABLE t (id int);
SAVEPOINT s1;
COMMIT;
