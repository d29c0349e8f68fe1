-- statements: 4
/* a block comment; with a semicolon */
INSERT INTO t VALUES ('it''s; quoted', E'back\'slash; ok', "odd;ident");
-- a line comment; with a semicolon
SELECT 1 /* inline; */ + 2;
SELECT 'multi
line; string';
SELECT 'ünïcødé; ✓' AS "naïve;column";
