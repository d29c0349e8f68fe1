-- statements: 2
SELECT 1;
SELECT 2 -- trailing comment, no semicolon
