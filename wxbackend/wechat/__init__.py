"""The WeChat channel itself (DESIGN §8): the /wechat endpoint, the menu, OAuth, the mini-program login and notices."""
