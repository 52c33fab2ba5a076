"""Mirror information ("spiegelinformatie", issue 14): de-identified events, figures with small-number suppression, and where people look at them."""
