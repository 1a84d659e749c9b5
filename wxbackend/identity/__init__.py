"""身份鉴别认证: the operator's identity checked once before their first order."""
