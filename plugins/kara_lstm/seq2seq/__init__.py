"""``lstm_seq2seq``, the original project's LSTM encoder-decoder: its options and model
(:mod:`.model`) and Keras graph with its closed-loop rollout (:mod:`.network`)."""
