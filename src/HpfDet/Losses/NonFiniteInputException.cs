namespace HpfDet.Losses;

/// <summary>
/// NaN or Inf in a loss's inputs: the model diverged or its inputs are corrupt. An ArgumentException (the
/// inputs are invalid) that a training loop can tell apart from a shape mistake and treat as divergence.
/// </summary>
public sealed class NonFiniteInputException(string message) : ArgumentException(message);
