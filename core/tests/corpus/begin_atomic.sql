-- statements: 2
CREATE FUNCTION add(a integer, b integer) RETURNS integer LANGUAGE sql
BEGIN ATOMIC
  SELECT a + b;
  SELECT CASE WHEN a > b THEN a ELSE b END;
END;
SELECT add(1, 2);
