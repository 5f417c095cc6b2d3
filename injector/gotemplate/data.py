"""The data an Istio template sees: Istio's ``SidecarTemplateData``, with Go field names.

Built from the same per-pod context our Jinja templates get (``injector.context.build``), so
both syntaxes read one set of derived facts. ``.ObjectMeta``, ``.Spec`` and their containers
are structs with Kubernetes' field lists (an unknown field fails, naming it);
``.ProxyConfig`` and ``.MeshConfig`` are protobuf messages (getters such as ``GetTracing``
work; absent fields read as Go's zero values, ``InterceptionMode`` as ``REDIRECT``);
``.Values`` is the plain values map.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from injector import render_cache
from injector.gotemplate.values import Schema, Struct


def _fields(spec: str) -> dict[str, tuple[str, Any]]:
    """``"Name:str GenerateName:str ..."`` -> Go name -> (JSON key, kind)."""
    out: dict[str, tuple[str, Any]] = {}
    for item in spec.split():
        name, _, kind = item.partition(":")
        key = name[0].lower() + name[1:]
        out[name] = (_JSON_NAMES.get(name, key), _KINDS.get(kind, kind))
    return out


_JSON_NAMES = {
    "UID": "uid",
    "DNSPolicy": "dnsPolicy",
    "DNSConfig": "dnsConfig",
    "DeprecatedServiceAccount": "serviceAccount",
    "TTY": "tty",
    "OS": "os",
    "SetHostnameAsFQDN": "setHostnameAsFQDN",
    "HostIP": "hostIP",
    "APIVersion": "apiVersion",
}
_KINDS: dict[str, Any] = {"ptr": None}

PORT = Schema(
    "v1.ContainerPort",
    _fields("Name:str HostPort:int ContainerPort:int Protocol:str HostIP:str"),
)
CONTAINER = Schema(
    "v1.Container",
    {
        **_fields(
            "Name:str Image:str Command:list Args:list WorkingDir:str EnvFrom:loose Env:loose"
            " Resources:loose ResizePolicy:loose RestartPolicy:ptr VolumeMounts:loose"
            " VolumeDevices:loose LivenessProbe:loose ReadinessProbe:loose StartupProbe:loose"
            " Lifecycle:loose TerminationMessagePath:str TerminationMessagePolicy:str"
            " ImagePullPolicy:str SecurityContext:loose Stdin:bool StdinOnce:bool TTY:bool"
        ),
        "Ports": ("ports", ("list", PORT)),
    },
)
OBJECT_META = Schema(
    "v1.ObjectMeta",
    _fields(
        "Name:str GenerateName:str Namespace:str SelfLink:str UID:str ResourceVersion:str"
        " Generation:int CreationTimestamp:loose DeletionTimestamp:loose"
        " DeletionGracePeriodSeconds:ptr Labels:strmap Annotations:strmap OwnerReferences:loose"
        " Finalizers:list ManagedFields:loose"
    ),
)
POD_SPEC = Schema(
    "v1.PodSpec",
    {
        **_fields(
            "Volumes:loose EphemeralContainers:loose RestartPolicy:str"
            " TerminationGracePeriodSeconds:ptr ActiveDeadlineSeconds:ptr DNSPolicy:str"
            " NodeSelector:strmap ServiceAccountName:str DeprecatedServiceAccount:str"
            " AutomountServiceAccountToken:ptr NodeName:str HostNetwork:bool HostPID:bool"
            " HostIPC:bool ShareProcessNamespace:ptr SecurityContext:loose ImagePullSecrets:loose"
            " Hostname:str Subdomain:str Affinity:loose SchedulerName:str Tolerations:loose"
            " HostAliases:loose PriorityClassName:str Priority:ptr DNSConfig:loose"
            " ReadinessGates:loose RuntimeClassName:ptr EnableServiceLinks:ptr"
            " PreemptionPolicy:ptr Overhead:loose TopologySpreadConstraints:loose"
            " SetHostnameAsFQDN:ptr OS:loose HostUsers:ptr SchedulingGates:loose"
            " ResourceClaims:loose Resources:loose"
        ),
        "InitContainers": ("initContainers", ("list", CONTAINER)),
        "Containers": ("containers", ("list", CONTAINER)),
    },
)
TYPE_META = Schema("v1.TypeMeta", _fields("Kind:str APIVersion:str"))
DEPLOYMENT_META = Schema("types.NamespacedName", _fields("Namespace:str Name:str"))
# Protobuf messages: the fields listed read as their Go zero value when absent (a string
# "", an enum its zero name, a map an empty map, a message or wrapper nil); any other
# field reads as it is in the JSON, nil when absent.
PROXY_CONFIG = Schema(
    "*v1alpha1.ProxyConfig",
    _fields(
        "ConfigPath:str BinaryPath:str ServiceCluster:str DiscoveryAddress:str"
        " ZipkinAddress:str CustomConfigFile:str StatsdUdpAddress:str MeshId:str"
        " StatNameLength:int ProxyAdminPort:int StatusPort:int"
        " InterceptionMode:enum.REDIRECT ControlPlaneAuthPolicy:enum.NONE"
        " TracingServiceName:enum.APP_LABEL_AND_NAMESPACE"
        " ProxyMetadata:strmap RuntimeValues:strmap ExtraStatTags:list CaCertificatesPem:loose"
        " DrainDuration:loose ParentShutdownDuration:loose TerminationDrainDuration:loose"
        " DiscoveryRefreshDelay:loose ConnectTimeout:loose Concurrency:loose"
        " HoldApplicationUntilProxyStarts:loose Tracing:loose Image:loose ReadinessProbe:loose"
        " ProxyStatsMatcher:loose GatewayTopology:loose EnvoyAccessLogService:loose"
        " EnvoyMetricsService:loose PrivateKeyProvider:loose ProxyHeaders:loose"
    ),
    open=True,
)
MESH_CONFIG = Schema(
    "*v1alpha1.MeshConfig",
    {
        **_fields(
            "TrustDomain:str RootNamespace:str IngressService:str IngressClass:str"
            " ProxyListenPort:int ProxyInboundListenPort:int ProxyHttpPort:int"
            " EnableTracing:bool EnableAutoMtls:loose EnablePrometheusMerge:loose"
            " InboundTrafficPolicy:loose OutboundTrafficPolicy:loose TrustDomainAliases:list"
        ),
        "DefaultConfig": ("defaultConfig", PROXY_CONFIG),
    },
    open=True,
)
SIDECAR_DATA = Schema(
    "inject.SidecarTemplateData",
    {
        "TypeMeta": ("typeMeta", TYPE_META),
        "DeploymentMeta": ("deploymentMeta", DEPLOYMENT_META),
        "ObjectMeta": ("objectMeta", OBJECT_META),
        "Spec": ("spec", POD_SPEC),
        "ProxyConfig": ("proxyConfig", PROXY_CONFIG),
        "MeshConfig": ("meshConfig", MESH_CONFIG),
        "Values": ("values", "map"),
        **_fields(
            "Revision:str NativeSidecars:bool ProxyImage:str ProxyInitImage:str ProxyUID:int"
            " ProxyGID:int InboundTrafficPolicyMode:str CompliancePolicy:str"
        ),
    },
)


def sidecar_data(ctx: Mapping[str, Any]) -> Struct:
    """``SidecarTemplateData`` from the Jinja context of the same pod."""
    workload = ctx["workload"]
    pod = _unwrapped(ctx["pod"])
    return Struct(
        SIDECAR_DATA,
        {
            "typeMeta": {"kind": workload["kind"], "apiVersion": workload["api_version"]},
            "deploymentMeta": {"name": workload["name"], "namespace": workload["namespace"]},
            "objectMeta": pod["metadata"],
            "spec": pod["spec"],
            "proxyConfig": ctx["proxy_config"],
            "meshConfig": ctx["mesh"],
            "values": ctx["values"],
            "revision": ctx["revision"],
            "nativeSidecars": ctx["native_sidecar"],
            "proxyImage": ctx["proxy_image"],
            "proxyInitImage": ctx["proxy_init_image"],
            "proxyUID": ctx["proxy_uid"],
            "proxyGID": ctx["proxy_gid"],
            "inboundTrafficPolicyMode": ctx["inbound_traffic_policy_mode"],
            "compliancePolicy": ctx["compliance_policy"],
        },
    )


def _unwrapped(value: Any) -> Any:
    """The pod as plain data. The Go engine works on plain dicts and lists, so it reads the
    render cache's recording view whole: a Go template's render is keyed on the whole pod."""
    return render_cache.plain(value) if isinstance(value, render_cache.View) else value
