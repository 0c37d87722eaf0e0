-- A request's input items were stored twice: in input_items, and at the end of its top
-- scope's input (the context a response starts from is its history followed by its input).
-- An input item the scope's input holds as such is stored as NULL now, and read from there
-- (inputItemOf in libs/store/src/input-items.sql.ts); an adoption, which gives the top scope
-- the input of the tree it adopts, stores its items whole first. Rows written before keep
-- their item.
ALTER TABLE "input_items" ALTER COLUMN "item" DROP NOT NULL;
