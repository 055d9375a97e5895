"""Access reviews: the review packet (rows, recommended action) and decision import."""
