"""One mailing from plan to journal.

mailing   what a mailing is (kind, seminar, audience) and its stable id
plan      who gets it in this run, per channel, from the lists, journal and opt-outs
factory   each person's message, rendered once per variant
run       sending a plan through every channel at once, within each one's limits, keeping
          the safety rules whoever calls it
lock      one sender per mailing and journal (fcntl.flock, released when a process dies)
optout    the opt-out list as it stands just before each person's transaction
log       the delivery log, one line per SMTP outcome, control characters neutralised
"""
