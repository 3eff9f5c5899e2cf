"""A small builder of JMeter 5.6 test plans (.jmx), stdlib only.

Each function returns a `Node`: a JMeter element and the children of its hashTree, so a
plan reads as nested calls. `write()` serialises with one element per line, in a stable
order, so a generated plan diffs well.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    props: list[ET.Element] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def add(self, *children: Node) -> Node:
        self.children.extend(children)
        return self


def prop(kind: str, name: str, value: object) -> ET.Element:
    element = ET.Element(kind, name=name)
    element.text = str(value).lower() if isinstance(value, bool) else str(value)
    return element


def s(name: str, value: object) -> ET.Element:
    return prop("stringProp", name, value)


def b(name: str, value: bool) -> ET.Element:
    return prop("boolProp", name, value)


def element(tag: str, gui: str, name: str, *props: ET.Element, testclass: str = "") -> Node:
    return Node(
        tag, {"guiclass": gui, "testclass": testclass or tag, "testname": name}, list(props)
    )


def arguments(name: str = "HTTPsampler.Arguments", body: str | None = None) -> ET.Element:
    args = ET.Element("elementProp", name=name, elementType="Arguments")
    collection = ET.SubElement(args, "collectionProp", name="Arguments.arguments")
    if body is not None:
        arg = ET.SubElement(collection, "elementProp", name="", elementType="HTTPArgument")
        arg.append(b("HTTPArgument.always_encode", False))
        arg.append(s("Argument.value", body))
        arg.append(s("Argument.metadata", "="))
    return args


# Properties given with -J on the command line (scripts/load.py), with their defaults.
def p(name: str, default: object) -> str:
    return f"${{__P({name},{default})}}"


def test_plan(name: str, comment: str, *children: Node) -> Node:
    plan = element(
        "TestPlan",
        "TestPlanGui",
        name,
        s("TestPlan.comments", comment),
        b("TestPlan.functional_mode", False),
        b("TestPlan.serialize_threadgroups", False),
    )
    plan.props.append(arguments("TestPlan.user_defined_variables"))
    return plan.add(*children)


def http_defaults() -> Node:
    node = element(
        "ConfigTestElement",
        "HttpDefaultsGui",
        "gateway",
        s("HTTPSampler.protocol", p("protocol", "http")),
        s("HTTPSampler.domain", p("host", "127.0.0.1")),
        s("HTTPSampler.port", p("port", 8080)),
        s("HTTPSampler.implementation", "HttpClient4"),
        s("HTTPSampler.connect_timeout", 5000),
        s("HTTPSampler.response_timeout", 35000),
    )
    node.props.insert(0, arguments())
    return node


def headers(name: str, values: dict[str, str]) -> Node:
    collection = ET.Element("collectionProp", name="HeaderManager.headers")
    for key, value in values.items():
        header = ET.SubElement(collection, "elementProp", name="", elementType="Header")
        header.append(s("Header.name", key))
        header.append(s("Header.value", value))
    return element("HeaderManager", "HeaderPanel", name, collection)


def thread_group(
    name: str,
    *,
    threads: str,
    rampup: str = "0",
    duration: str | None = None,
    loops: str = "-1",
    kind: str = "ThreadGroup",
) -> Node:
    """`kind`: ThreadGroup, SetupThreadGroup (runs first) or PostThreadGroup (runs last).
    With `duration` the group stops after that many seconds; else after `loops`."""
    loop = ET.Element(
        "elementProp",
        name="ThreadGroup.main_controller",
        elementType="LoopController",
        guiclass="LoopControlPanel",
        testclass="LoopController",
        testname="Loop Controller",
    )
    loop.append(s("LoopController.loops", loops))
    loop.append(b("LoopController.continue_forever", False))
    props = [
        s("ThreadGroup.on_sample_error", "continue"),
        loop,
        s("ThreadGroup.num_threads", threads),
        s("ThreadGroup.ramp_time", rampup),
        b("ThreadGroup.scheduler", duration is not None),
        s("ThreadGroup.duration", duration or ""),
        s("ThreadGroup.delay", ""),
        b("ThreadGroup.same_user_on_next_iteration", True),
    ]
    return element(kind, f"{kind}Gui", name, *props)


def http(
    label: str, path: str, *children: Node, method: str = "GET", body: str | None = None
) -> Node:
    """One request, labelled by its route (`GET /api/products/{id}/`) so the results
    group by endpoint whatever the ids."""
    sampler = element(
        "HTTPSamplerProxy",
        "HttpTestSampleGui",
        label,
        s("HTTPSampler.path", path),
        s("HTTPSampler.method", method),
        b("HTTPSampler.follow_redirects", False),
        b("HTTPSampler.use_keepalive", True),
        b("HTTPSampler.postBodyRaw", body is not None),
    )
    sampler.props.insert(0, arguments(body=body))
    return sampler.add(*children)


def status(codes: str) -> Node:
    """The response code matches `codes`, a regular expression such as `200` or `20[01]`."""
    strings = ET.Element("collectionProp", name="Asserion.test_strings")
    strings.append(s("code", codes))
    return element(
        "ResponseAssertion",
        "AssertionGui",
        f"status {codes}",
        strings,
        s("Assertion.custom_message", ""),
        s("Assertion.test_field", "Assertion.response_code"),
        # The pattern alone decides: JMeter would otherwise fail every 4xx first.
        b("Assertion.assume_success", True),
        prop("intProp", "Assertion.test_type", 1),  # 1: the whole code matches the pattern
    )


def json_has(path: str, expected: str | None = None) -> Node:
    """The JSON body has `path` (and, if given, its value matches the regex `expected`)."""
    return element(
        "JSONPathAssertion",
        "JSONPathAssertionGui",
        f"json {path}" + (f" ~ {expected}" if expected else ""),
        s("JSON_PATH", path),
        s("EXPECTED_VALUE", expected or ""),
        b("JSONVALIDATION", expected is not None),
        b("EXPECT_NULL", False),
        b("INVERT", False),
        b("ISREGEX", True),
    )


def extract(variable: str, path: str, match: int = 1, default: str = "NOT_FOUND") -> Node:
    """Put `path` of the JSON body into `variable` (`match` -1: all, as variable_1..N)."""
    return element(
        "JSONPostProcessor",
        "JSONPostProcessorGui",
        f"{variable} = {path}",
        s("JSONPostProcessor.referenceNames", variable),
        s("JSONPostProcessor.jsonPathExprs", path),
        s("JSONPostProcessor.match_numbers", match),
        s("JSONPostProcessor.defaultValues", default),
    )


def groovy(kind: str, name: str, script: str) -> Node:
    """A JSR223 element in Groovy: kind is PreProcessor, PostProcessor, Assertion, Sampler."""
    return element(
        f"JSR223{kind}",
        "TestBeanGUI",
        name,
        s("scriptLanguage", "groovy"),
        s("parameters", ""),
        s("filename", ""),
        s("cacheKey", "true"),
        s("script", script.strip()),
    )


def think(name: str = "think time", base_ms: str = p("think_ms", 300), range_ms: int = 700) -> Node:
    return element(
        "UniformRandomTimer",
        "UniformRandomTimerGui",
        name,
        s("ConstantTimer.delay", base_ms),
        s("RandomTimer.range", range_ms),
    )


def rate(per_second: str) -> Node:
    """Pace the whole thread group to `per_second` samples a second (0: no pacing)."""
    return element(
        "ConstantThroughputTimer",
        "TestBeanGUI",
        "rate (samples/s of the group)",
        prop("intProp", "calcMode", 4),  # all active threads of this group, shared
        # Samples a minute; 0 would mean an endless wait to JMeter, so "no pacing" is 1e9.
        s("throughput", f"${{__groovy(def r = ({per_second}) as double; r > 0 ? r * 60 : 1e9)}}"),
    )


def sync(name: str, group_size: str) -> Node:
    """Hold threads until `group_size` of them are here, then release them together."""
    return element(
        "SyncTimer",
        "TestBeanGUI",
        name,
        s("groupSize", group_size),
        # Long enough for a ramped-up group to gather; a lost thread cannot hang the run.
        prop("longProp", "timeoutInMs", 180000),
    )


def csv_data(name: str, filename: str, variables: str) -> Node:
    return element(
        "CSVDataSet",
        "TestBeanGUI",
        name,
        s("filename", filename),
        s("fileEncoding", "UTF-8"),
        s("variableNames", variables),
        b("ignoreFirstLine", True),
        s("delimiter", ","),
        b("quotedData", False),
        b("recycle", True),
        b("stopThread", False),
        s("shareMode", "shareMode.all"),
    )


def once(name: str, *children: Node) -> Node:
    return element("OnceOnlyController", "OnceOnlyControllerGui", name).add(*children)


def when(name: str, condition: str, *children: Node) -> Node:
    """An If Controller on a Groovy expression."""
    return element(
        "IfController",
        "IfControllerPanel",
        name,
        s("IfController.condition", f"${{__groovy({condition})}}"),
        b("IfController.evaluateAll", False),
        b("IfController.useExpression", True),
    ).add(*children)


def fragment(name: str, *children: Node) -> Node:
    """A Test Fragment: a piece that runs only where a Module Controller names it.
    Disabled, as JMeter's GUI makes them, so it never runs on its own."""
    node = element("TestFragmentController", "TestFragmentControllerGui", name)
    node.attrs["enabled"] = "false"
    return node.add(*children)


def module(fragment_name: str) -> Node:
    """A Module Controller running the Test Fragment `fragment_name` of the same plan;
    `test_plan` fills in the path (Test Plan / <plan> / <fragment>) JMeter resolves."""
    return element("ModuleController", "ModuleControllerGui", f"{MODULE}{fragment_name}")


MODULE = "run fragment: "


def _java_hash(text: str) -> int:
    """Java's String.hashCode, which JMeter's GUI uses to name the path's entries."""
    value = 0
    for char in text:
        value = (31 * value + ord(char)) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def modules(node: Node) -> list[Node]:
    """The Module Controllers under `node`, in order."""
    found = [node] if node.tag == "ModuleController" else []
    for child in node.children:
        found += modules(child)
    return found


def resolve_modules(plan: Node) -> None:
    """Point every Module Controller of `plan` at its fragment by name."""
    name = plan.attrs["testname"]
    for node in modules(plan):
        path = ET.Element("collectionProp", name="ModuleController.node_path")
        for part in ("Test Plan", name, node.attrs["testname"].removeprefix(MODULE)):
            path.append(s(str(_java_hash(part)), part))
        node.props = [path]


def repeat(name: str, loops: str, *children: Node) -> Node:
    return element(
        "LoopController", "LoopControlPanel", name, s("LoopController.loops", loops)
    ).add(*children)


def _serialise(node: Node, tree: ET.Element) -> None:
    element = ET.SubElement(tree, node.tag, node.attrs)
    element.extend(node.props)
    children = ET.SubElement(tree, "hashTree")
    for child in node.children:
        _serialise(child, children)


def write(plan: Node, path: Path) -> None:
    resolve_modules(plan)
    root = ET.Element("jmeterTestPlan", version="1.2", properties="5.0", jmeter="5.6.2")
    _serialise(plan, ET.SubElement(root, "hashTree"))
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n")
