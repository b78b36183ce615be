"""The ways the pass takes capacity away, one per module behind one interface (`base.Method`), as
Karpenter's disruption methods are: emptiness, consolidation, spot interruption, garbage collection.
Pure: each computes commands from `PassInputs`; the pass records them and executors act."""
