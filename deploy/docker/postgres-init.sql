-- compose.yaml's postgres profile: run once, when the server's volume is new. POSTGRES_DB made
-- the CEP API's database; this makes the staff API's own (it never shares the CEP API's).
CREATE DATABASE staff;
