-- Release 1 stores a user's full name in one column. It may be NULL:
-- MySQL and MariaDB relax NOT NULL only with MODIFY, which rebuilds the
-- table (MariaDB 10.11 refuses ALGORITHM=INSTANT for it), and a rebuild of
-- a large table must then take its final lock within lock_wait_timeout of
-- its end; the next release inserts first and last names without it.
CREATE TABLE users (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255)
);
