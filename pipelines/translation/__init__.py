"""English -> target-language translation: a BiLSTM encoder and an attention decoder."""
