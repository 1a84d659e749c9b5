"""The texts users agree to (电子认证服务协议, 敏感个人信息处理授权书, 申请声明), versioned, and who accepted which."""
