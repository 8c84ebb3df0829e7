package rt_test

import "github.com/abusegw/abusegw/gateway/secret"

func secretOf(s string) secret.Redacted { return secret.Redacted(s) }
