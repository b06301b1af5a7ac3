-- poolscale live store, schema version 4: the account's certificates (the 2024-02-01.19.0 API,
-- runtime/service/account_certs.py), so that a restart keeps them and can still install them on
-- the nodes of the pools that reference them. data is the certificate as added (DER or PEM for
-- cer, PKCS #12 for pfx); password is the pfx's, needed to install it (never shown by the API).
-- Times are ISO-8601 UTC text, as the REST API shows them. delete_error: JSON or NULL.
CREATE TABLE certificates(
  key TEXT PRIMARY KEY,                     -- thumbprintAlgorithm-thumbprint, lower case
  thumbprint TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  format TEXT NOT NULL,                     -- cer | pfx
  data BLOB NOT NULL,
  password TEXT,
  public_data TEXT,
  state TEXT NOT NULL,                      -- active | deleting | deletefailed
  state_time TEXT NOT NULL,
  previous_state TEXT,
  previous_state_time TEXT,
  delete_error TEXT);
