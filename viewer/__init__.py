"""The DebtBench viewer: report runs, transcripts and side-by-side dialogues, and a page to play the debtor."""
