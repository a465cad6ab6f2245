"""Domain errors. Each carries the HTTP status it maps to, so every API shape reports the same
failure with the same code; the REST layer only chooses the body format."""


class QnetError(Exception):
    """Base of every error the API reports to a client (anything else is a 500)."""

    status = 500
    message = "An unknown error occurred."

    def __init__(self, message=None, detail="", **kwargs):
        self.kwargs = kwargs
        text = message or self.message
        super().__init__(text.format(**kwargs) if kwargs else text)
        self.detail = detail

    @property
    def type(self):
        """The error's name in API bodies: the class's own ``type_name`` or the class name."""
        return type(self).__dict__.get("type_name") or type(self).__name__


class BadRequest(QnetError):
    status = 400
    type_name = "HTTPBadRequest"
    message = "Bad request."


class InvalidInput(BadRequest):
    message = "Invalid input for operation: {error}"


class MalformedRequestBody(BadRequest):
    message = "Malformed request body: {reason}"


class NotAuthenticated(QnetError):
    status = 401
    message = "Authentication required: send a valid X-Auth-Token."


class PolicyNotAuthorized(QnetError):
    status = 403
    message = "Rule {action} is not allowed: {reason}."


class NotFound(QnetError):
    status = 404
    message = "Resource could not be found."


class NetworkNotFound(NotFound):
    message = "Network {id} could not be found."


class SubnetNotFound(NotFound):
    message = "Subnet {id} could not be found."


class PortNotFound(NotFound):
    message = "Port {id} could not be found."


class AttachmentNotFound(NotFound):
    message = "Port {id} has no attachment."


class QosPolicyNotFound(NotFound):
    message = "QoS policy {id} could not be found."


class QosRuleNotFound(NotFound):
    message = "Bandwidth limit rule {id} could not be found in QoS policy {policy_id}."


class RouterNotFound(NotFound):
    message = "Router {id} could not be found."


class RouterInterfaceNotFound(NotFound):
    message = "Router {router_id} does not have an interface with id {port_id}."


class RouterInterfaceNotFoundForSubnet(NotFound):
    message = "Router {router_id} has no interface on subnet {subnet_id}."


class FloatingIPNotFound(NotFound):
    message = "Floating IP {id} could not be found."


class ExternalGatewayForFloatingIPNotFound(NotFound):
    message = ("External network {external_network_id} is not reachable from subnet "
               "{subnet_id}. Therefore, cannot associate Port {port_id} with a Floating IP.")


class Conflict(QnetError):
    status = 409
    message = "Conflict."


class RbacPolicyNotFound(NotFound):
    message = "RBAC policy {id} could not be found."


class RbacPolicyExists(Conflict):
    message = ("An RBAC policy with action {action} for target {target} on object "
               "{object_id} already exists: {id}.")


class InvalidSharedSetting(Conflict):
    message = ("Unable to reconfigure sharing settings for network {network}. Project(s) "
               "{projects} use it.")


class RbacPolicyInUse(Conflict):
    message = ("RBAC policy on object {object_id} cannot be removed because other objects "
               "depend on it. Details: project(s) {projects} still use it ({action}).")


class NetworkInUse(Conflict):
    message = ("Unable to complete operation on network {id}. "
               "There are one or more ports still in use on the network.")


class SubnetInUse(Conflict):
    message = ("Unable to complete operation on subnet {id}: "
               "one or more ports have an IP allocation from this subnet.")


class PortInUse(Conflict):
    message = ("Unable to complete operation on port {id}: "
               "interface {attachment} is plugged into it.")


class AlreadyAttached(Conflict):
    message = ("Unable to plug interface {attachment} into port {id}: "
               "it is already plugged into another port.")


class IpAddressInUse(Conflict):
    message = "Unable to complete operation for network {net_id}. The IP address {ip} is in use."


class MacAddressInUse(Conflict):
    message = ("Unable to complete operation for network {net_id}. "
               "The mac address {mac} is in use.")


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network {net_id}."


class SegmentationIdInUse(Conflict):
    message = "Segmentation id {vni} is in use by another network."


class NoSegmentationIdAvailable(Conflict):
    message = "No segmentation id is free in the configured range {low}:{high}."


class SubnetOverlap(BadRequest):
    message = "Invalid input for operation: CIDR {cidr} overlaps with subnet {other} of this network."


class QosPolicyInUse(Conflict):
    message = "QoS policy {id} is used by {what} {user}; detach it first."


class QosRuleConflict(Conflict):
    message = "QoS policy {policy_id} already has a {direction} bandwidth limit rule ({rule_id})."


class GatewayIpInUse(Conflict):
    message = ("Current gateway ip {ip_address} already in use by port {port_id}. Unable to "
               "update.")


class RouterInUse(Conflict):
    message = "Router {id} still has ports."


class RouterInterfaceInUseByFloatingIP(Conflict):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be "
               "deleted, as it is required by one or more floating IPs.")


class RouterInterfaceInUseByRoute(Conflict):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be "
               "deleted, as it is required by one or more routes.")


class RouterExternalGatewayInUseByFloatingIp(Conflict):
    message = ("Gateway cannot be updated for router {router_id}, since a gateway to external "
               "network {net_id} is required by one or more floating IPs.")


class ExternalNetworkInUse(Conflict):
    message = ("External network {net_id} cannot be updated to be made non-external, since "
               "it has existing gateway ports or floating IPs.")


class FlatNetworkInUse(Conflict):
    message = ("Unable to create the flat network. Physical network {physical_network} is in "
               "use.")


class OverQuota(Conflict):
    message = "Quota exceeded for resources: {overs}."


class L3PortInUse(Conflict):
    message = ("Port {port_id} has owner {device_owner} and therefore cannot be {done} "
               "directly via the port API.")


class RouterPortInUse(Conflict):
    message = "Unable to complete operation on port {port_id}: it is in use by {device}."


class FloatingIPPortAlreadyAssociated(Conflict):
    message = ("Cannot associate floating IP {floating_ip_address} ({fip_id}) with port "
               "{port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating "
               "IP on external network {net_id}.")


class NoZoneAvailable(Conflict):
    message = "No router zone is free: all {high} are in use."


class StatsNotAvailable(QnetError):
    status = 501
    message = "The {plugin} back-end keeps no per-port statistics."


class TraceNotAvailable(QnetError):
    status = 501
    message = "The {plugin} back-end cannot trace packets (qnet trace needs --plugin openflow in overlay mode)."


class RetryExhausted(Conflict):
    message = "The request conflicted with concurrent changes; retry it."


class SecurityGroupNotFound(NotFound):
    message = "Security group {id} does not exist"


class SecurityGroupRuleNotFound(NotFound):
    message = "Security group rule {id} does not exist"


class SecurityGroupInUse(Conflict):
    message = "Security Group {id} in use."


class SecurityGroupCannotRemoveDefault(Conflict):
    message = "Insufficient rights for removing default security group."


class SecurityGroupCannotUpdateDefault(Conflict):
    message = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(Conflict):
    message = "Default security group already exists."


class SecurityGroupRuleExists(Conflict):
    message = "Security group rule already exists. Rule id is {rule_id}."


class SecurityGroupRuleInvalid(BadRequest):
    """A rule whose parts do not fit together (Neutron answers each case with a 400)."""

    message = "Invalid input for operation: {error}"


class AddressGroupNotFound(NotFound):
    message = "Address group {id} could not be found."


class AddressGroupInUse(Conflict):
    message = "Address group {id} is in use by security group rules {rules}."


class AddressesNotFound(NotFound):
    message = "Addresses {addresses} not found in the address group {id}."


class AddressesAlreadyExist(BadRequest):
    message = "Addresses {addresses} already exist in the address group {id}."


class PortSecurityAndIPRequiredForSecurityGroups(BadRequest):
    message = "Port security must be enabled in order to have security groups on port {id}."


class PortSecurityPortHasSecurityGroup(Conflict):
    message = ("Port {id} has security groups: remove them (security_groups: []) to disable "
               "port security.")
