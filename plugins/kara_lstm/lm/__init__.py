"""``lstm_lm``, the frame language model (Kara's default model): its options and model
(:mod:`.model`), Keras graph and sampling loop (:mod:`.network`), output heads
(:mod:`.heads`), the tokens head's codebook (:mod:`.codebook`) and held-out score
(:mod:`.score`)."""
