"""What the JSON API and the pages share over HTTP: who is calling (:mod:`.caller`), the
request's context and database session (:mod:`.deps`), the request limits
(:mod:`.limits`), the security headers (:mod:`.headers`) and the answer to every error
(:mod:`.problems`)."""
