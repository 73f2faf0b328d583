"""An autonomous research loop whose keeps are real: each change runs K seeds within a budget and is kept only
when it beats the best commit by a margin a t-test supports; everything else is reset. See loop/api.py."""
