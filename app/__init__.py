"""ia-comafi benefits API: answers questions about Banco Comafi card benefits."""
