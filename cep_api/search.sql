-- What GET /ceps?q= searches on SQLite (models.create_search_index runs this once, statement by statement:
-- they are separated by blank lines). An FTS5 table of the trigrams of each CEP's street and district keys,
-- its rowid the CEP as a number, so that its order is the CEPs'. Contentless (content = ''): it holds the
-- index only, so a delete must name what was indexed. A line break between the two keys: no match spans both.
CREATE VIRTUAL TABLE cep_search USING fts5(key, tokenize = 'trigram', content = '')

INSERT INTO cep_search (rowid, key)
SELECT CAST(cep AS INTEGER), street_key || char(10) || district_key FROM cep

-- Triggers keep it in step with the cep table, whatever writes it (the API, the seed, a migration).
CREATE TRIGGER cep_search_insert AFTER INSERT ON cep BEGIN
    INSERT INTO cep_search (rowid, key) VALUES (CAST(new.cep AS INTEGER), new.street_key || char(10) || new.district_key);
END

CREATE TRIGGER cep_search_delete AFTER DELETE ON cep BEGIN
    INSERT INTO cep_search (cep_search, rowid, key)
    VALUES ('delete', CAST(old.cep AS INTEGER), old.street_key || char(10) || old.district_key);
END

CREATE TRIGGER cep_search_update AFTER UPDATE ON cep BEGIN
    INSERT INTO cep_search (cep_search, rowid, key)
    VALUES ('delete', CAST(old.cep AS INTEGER), old.street_key || char(10) || old.district_key);
    INSERT INTO cep_search (rowid, key) VALUES (CAST(new.cep AS INTEGER), new.street_key || char(10) || new.district_key);
END
