-- Identity additions. The CLI browser login (POST /auth/cli/start) binds a login flow to the
-- PKCE code challenge the CLI sent, so only the process that started the flow can collect the
-- session (POST /auth/cli/complete with the matching code verifier).
ALTER TABLE login_flows ADD COLUMN cli_code_challenge TEXT;
