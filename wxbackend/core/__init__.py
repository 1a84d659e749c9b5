"""The ground floor: database, Redis, the unit of work, errors, money, times, crypto, files. Imports no domain."""
