"""Speech to text: a log-mel, convolution and bidirectional GRU acoustic model trained with CTC."""
