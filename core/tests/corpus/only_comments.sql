-- statements: 0
-- nothing here; not even this
/* or this; */
;
