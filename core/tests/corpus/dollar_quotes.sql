-- statements: 3
CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $outer$
BEGIN
  RETURN $inner$ ; $$ not the end $inner$;
END;
$outer$;
COMMENT ON FUNCTION f() IS $$It's; fine$$;
SELECT $1, $$;$$, 'a$$b';
