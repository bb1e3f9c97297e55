"""Provider workers: decoupled provider processes that serve dynamic classes over Redis streams.

The worker runtime, the provider SDK and the stream transport live here. Until they land, a
put of an instance of a Dynamic class answers WBEM_E_PROVIDER_NOT_FOUND.
"""
