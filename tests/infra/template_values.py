"""Reading values of a synthesized template in the infra tests."""


def text(node) -> str:
    """A template value as text: Ref X -> <X>, Fn::GetAtt X.A -> <X.A>, Fn::Join joined."""
    if isinstance(node, str):
        return node
    if node == {"Ref": "AWS::Partition"}:
        return "aws"  # a literal under cdk.json's feature flags (`cdk synth`), a token in the tests' synth
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return f"<{node['Ref']}>"
    if isinstance(node, dict) and set(node) == {"Fn::GetAtt"}:
        return "<{}.{}>".format(*node["Fn::GetAtt"])
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        return separator.join(text(part) for part in parts)
    if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
        return node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]
    raise AssertionError(f"unexpected template value {node!r}")
