"""The milter: mailpolicy's settings applied to real SMTP traffic in Postfix (or Sendmail).

`policies` keeps the settings of every account, indexed for the engine, and which account
each active protected domain belongs to, refreshed in the background. `session` turns what a
connection and a message show the milter into engine messages and the engine's verdicts into
milter actions; it knows no milter library. `service` is the library glue (pymilter over
libmilter) and the `mailpolicy milter` command's loop.
"""
