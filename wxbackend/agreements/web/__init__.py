"""Routes of the agreements domain: the text in full on the phone and in the API."""
