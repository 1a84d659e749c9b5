"""实时制证: writing a renewed certificate to the customer's key from the PC page."""
