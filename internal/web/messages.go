package web

// Catalog keys chosen in Go code. Templates name their own keys as string
// constants ({{.T "home.title"}}); the catalog test checks both kinds.
const (
	msgNoticeVerified  msgKey = "notice.verified"
	msgNoticeSaved     msgKey = "notice.saved"
	msgNoticeSignedOut msgKey = "notice.signed_out"

	msgErrorNotFound    msgKey = "error.not_found"
	msgErrorForbidden   msgKey = "error.forbidden"
	msgErrorCrossOrigin msgKey = "error.cross_origin"
	msgErrorCSRF        msgKey = "error.csrf"
	msgErrorBadRequest  msgKey = "error.bad_request"
	msgErrorTooLarge    msgKey = "error.too_large"
	msgErrorRateLimited msgKey = "error.rate_limited"
	msgErrorUnavailable msgKey = "error.unavailable"
	msgErrorInternal    msgKey = "error.internal"

	msgInvalidEmail     msgKey = "form.invalid_email"
	msgInvalidPassword  msgKey = "form.invalid_password" // %[1]d, %[2]d: the password's bounds in bytes
	msgVerifyInvalid    msgKey = "verify.invalid"
	msgSignInWrong      msgKey = "sign_in.wrong"
	msgSignInUnverified msgKey = "sign_in.unverified"

	msgRoleAdmin      msgKey = "role.admin"
	msgRoleSupport    msgKey = "role.support"
	msgRoleFinance    msgKey = "role.finance"
	msgRoleMonitoring msgKey = "role.monitoring"
	msgRoleUnknown    msgKey = "role.unknown" // %[1]s: the role's code

	msgMailVerifySubject msgKey = "mail.verify.subject"
	msgMailVerifyBody    msgKey = "mail.verify.body" // %[1]s link, %[2]d hours it works, %[3]s resend page
	msgMailExistsSubject msgKey = "mail.exists.subject"
	msgMailExistsBody    msgKey = "mail.exists.body" // %[1]s sign-in page, %[2]s resend page
)
